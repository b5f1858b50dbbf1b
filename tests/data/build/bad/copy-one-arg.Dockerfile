FROM 127.0.0.1:5000/library/busybox:latest
COPY onlyone
