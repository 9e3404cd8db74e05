# Elasticsearch 8.15 with the o19s Learning-to-Rank plugin (release built for exactly this version).
FROM docker.elastic.co/elasticsearch/elasticsearch:8.15.0
RUN bin/elasticsearch-plugin install --batch \
    https://github.com/o19s/elasticsearch-learning-to-rank/releases/download/v1.5.9-es8.15.0/ltr-plugin-v1.5.9-es8.15.0.zip
