FROM alpine AS first
COPY --from=second /x /x
FROM busybox AS second
