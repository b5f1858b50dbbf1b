FROM alpine AS build
FROM busybox
COPY --from=Build! /a /b
