FROM alpine
EXPOSE 53/icmp
