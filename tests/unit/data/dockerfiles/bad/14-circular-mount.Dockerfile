FROM alpine AS one
RUN --mount=from=two,target=/m true
FROM one AS two
