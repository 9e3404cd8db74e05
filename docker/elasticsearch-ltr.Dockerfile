# Elasticsearch 8.18.6 with the o19s Learning-to-Rank plugin released from tag v1.5.10-es8.18.6:
# the same source (../shared/vendor/elasticsearch-learning-to-rank) the test node builds for
# 8.19.21 (`es-ltrr node start --distribution elasticsearch`, plugin `ltr` 1.5.10-es8.19.21).
# No 8.19 release exists, so the image stays on the release's own Elasticsearch version.
FROM docker.elastic.co/elasticsearch/elasticsearch:8.18.6
RUN bin/elasticsearch-plugin install --batch \
    https://github.com/o19s/elasticsearch-learning-to-rank/releases/download/v1.5.10-es8.18.6/ltr-plugin-v1.5.10-es8.18.6.zip
