FROM alpine
COPY <<A <<B /dst/
a
A
b
