FROM alpine
RUN --mount=type=cache \
    # the cache
    make
