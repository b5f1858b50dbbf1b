FROM alpine
ENV A=${HOME
