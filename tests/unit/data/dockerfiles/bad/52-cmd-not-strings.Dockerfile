FROM alpine


CMD ["run", 1, true]
