FROM alpine AS 2build
