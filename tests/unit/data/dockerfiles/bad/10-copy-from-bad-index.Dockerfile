FROM alpine
FROM busybox
COPY --from=7 /a /b
