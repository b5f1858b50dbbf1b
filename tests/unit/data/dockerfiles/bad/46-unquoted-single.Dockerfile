FROM alpine
WORKDIR '/app
