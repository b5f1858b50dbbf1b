FROM alpine

RUN
