FROM alpine AS b
FROM busybox AS B
