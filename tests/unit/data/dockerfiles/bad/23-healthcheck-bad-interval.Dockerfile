FROM alpine
HEALTHCHECK --interval=abc CMD true
