FROM alpine AS one
RUN true
COPY --from=two /x /x

FROM alpine AS two
COPY --from=one /y /y
