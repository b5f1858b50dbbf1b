FROM alpine
COPY https://example.com/a.tgz /opt/
