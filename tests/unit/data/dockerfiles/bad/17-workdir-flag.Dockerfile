FROM alpine
WORKDIR --parents /x
