FROM alpine
CMD ["nginx", 'daemon off;']
