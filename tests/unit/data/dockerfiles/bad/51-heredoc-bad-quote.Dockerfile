FROM alpine
RUN <<'EOF
echo
EOF
