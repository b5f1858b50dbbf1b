from alpine
run true
expose 80
copyy a b
