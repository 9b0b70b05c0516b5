# For users with Docker: docker build -t ipvs-proxy:dev .
# `make image` builds the same contents without a Docker daemon (hack/image.sh):
# the static ipvs-proxy and the iptables tools it execs, nothing else.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o /out/ipvs-proxy ./cmd/ipvs-proxy

# iptables (nft and legacy backends) with its extensions and libraries,
# gathered into /rootfs as hack/image.sh does.
FROM debian:bookworm-slim AS iptables
RUN apt-get update && apt-get install -y --no-install-recommends iptables && rm -rf /var/lib/apt/lists/*
RUN set -eu; R=/rootfs; XT=/usr/lib/x86_64-linux-gnu/xtables; \
    mkdir -p $R/usr/sbin $R$XT $R/run $R/tmp $R/lib/modules $R/etc/ipvs-proxy; \
    for be in nft legacy; do \
      cp /usr/sbin/xtables-$be-multi $R/usr/sbin/; \
      for fam in iptables ip6tables; do for t in save restore; do \
        ln -s xtables-$be-multi $R/usr/sbin/$fam-$be-$t; done; done; \
    done; \
    for fam in iptables ip6tables; do for t in save restore; do ln -s $fam-nft-$t $R/usr/sbin/$fam-$t; done; done; \
    cp $XT/libxt_*.so $XT/libipt_*.so $XT/libip6t_*.so $R$XT/; \
    ldd /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi $XT/libxt_*.so $XT/libipt_*.so $XT/libip6t_*.so 2>/dev/null \
      | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u \
      | while read -r lib; do mkdir -p $R$(dirname $lib); cp -L $lib $R$lib; done

FROM scratch
COPY --from=iptables /rootfs/ /
COPY --from=build /out/ipvs-proxy /ipvs-proxy
ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/ipvs-proxy"]
CMD ["run"]
