FROM alpine
ARG =1
