FROM alpine
ARG P=http
EXPOSE $P
