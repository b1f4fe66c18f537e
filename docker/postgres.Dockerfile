# PostgreSQL 15 from Debian's packages, for machines that reach no container registry
# (docker/image.py postgres). It stands in for the postgres:15 image and honours what
# docker-compose.yml relies on: POSTGRES_PASSWORD (and POSTGRES_USER) set the superuser on
# first start, the data lives in /var/lib/postgresql/data (the volume), password
# (scram-sha-256) logins from other containers, pg_isready on PATH.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
# The package creates and starts nothing that survives: its default cluster is dropped,
# the entrypoint runs initdb on the volume instead.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && pg_dropcluster 15 main \
    && mkdir -p "$PGDATA" /var/run/postgresql \
    && chown postgres:postgres "$PGDATA" /var/run/postgresql \
    && chmod 0700 "$PGDATA"
COPY docker/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
# A fast shutdown (SIGINT) ends sessions and checkpoints; SIGTERM would wait for clients.
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
