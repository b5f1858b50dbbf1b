FROM alpine
RUN true
FORM x
