FROM nginx:1.26
MAINTAINER Someone <someone@example.com>
ENV NGINX_PORT 8080
env DOCROOT=/usr/share/nginx/html LOG="/var/log/nginx"
ADD https://example.com/robots.txt $DOCROOT/robots.txt
COPY ["site/index.html", "site/*.css", "/usr/share/nginx/html/"]
RUN sed -i "s/listen  *80;/listen ${NGINX_PORT};/" /etc/nginx/conf.d/default.conf \

 && nginx -t
ONBUILD COPY . /usr/share/nginx/html/
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN echo $SHELL | tee /tmp/shell
WORKDIR /usr/share
WORKDIR nginx/html
HEALTHCHECK NONE
EXPOSE 8080
CMD nginx -g 'daemon off;'
