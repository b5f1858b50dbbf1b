FROM alpine
ADD --from=x /a /b
