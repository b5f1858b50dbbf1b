ARG V=1
ENV A=$V
FROM alpine
