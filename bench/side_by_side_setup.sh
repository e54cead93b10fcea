#!/usr/bin/env bash
# Set up contender (d) of bench/side_by_side.py: PyFlink in its own virtual environment
# (.venv-flink, git-ignored) and the connector JARs it needs, from Maven Central by
# pinned coordinates, each checked against a pinned SHA-256 and cached in
# ~/.cache/lakeforge/flink-jars (never in git). Safe to run again: it skips what is there.
#
#     bash bench/side_by_side_setup.sh
#
# Why Flink 2.3.0: its Python package supports Python 3.11 and Java 17, and it is the
# one release for which both fat format JARs (flink-sql-avro, flink-sql-parquet) can be
# fetched here. Flink's Parquet writer also needs Hadoop's classes (the two shaded
# hadoop-client JARs, and commons-logging) and zstd-jni (the version flink-sql-parquet
# was built with; it does not bundle it). Iceberg publishes no runtime for Flink 2.3:
# the one for Flink 2.1 (Iceberg 1.11.0) runs the bench's job on 2.3 with a Hadoop
# catalog (checked by the bench's row count, not more).
set -euo pipefail

FLINK_VERSION=2.3.0
HERE="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$HERE/.venv-flink"
JARS="${LAKEFORGE_FLINK_JARS:-$HOME/.cache/lakeforge/flink-jars}"
MAVEN="${MAVEN_CENTRAL:-https://repo1.maven.org/maven2}"

# group/artifact/version  sha256  where: "job" JARs go to the job (pipeline.jars), "hadoop"
# ones onto the JVM's classpath (HADOOP_CLASSPATH: Flink's client and Iceberg's catalog
# load Hadoop classes outside the job's class loader).
ARTIFACTS=(
    "org/apache/flink/flink-sql-avro/$FLINK_VERSION 8f6a41ce820303bd816ebddafbd6edcd6b5c43b4fdac348ad7c0d9029e4e7f75 job"
    "org/apache/flink/flink-sql-parquet/$FLINK_VERSION f30617f4a5a6d437750f155ff72178ab34439aec91df64d96621c260559ba5fd job"
    "com/github/luben/zstd-jni/1.5.6-6 1f85db623bf653860d10e13e7b1ca6609301f66994dc93784c92a66019516bb9 job"
    "org/apache/iceberg/iceberg-flink-runtime-2.1/1.11.0 39e658d876f253815b4b17c6676bebf6a24d517afe93a21298106d1d7fa97331 job"
    "org/apache/hadoop/hadoop-client-api/3.3.6 f3d2347a6e1c6885d5bcfd4f60c3ac3810ec11068fc161e04329baabf412d963 hadoop"
    "org/apache/hadoop/hadoop-client-runtime/3.3.6 15f01bc804294df06d2effc87de363a83cf589f50558bdbf48f72541ad8de854 hadoop"
    "commons-logging/commons-logging/1.2 daddea1ea0be0f56978ab3006b8ac92834afeefbd9b7e4e6316fca57df0fa636 hadoop"
)

command -v java >/dev/null || { echo "PyFlink needs a JVM (Java 17): apt-get install openjdk-17-jre-headless" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import pyflink" 2>/dev/null; then
    if [ -x "$HERE/.venv/bin/uv" ]; then
        "$HERE/.venv/bin/uv" venv --quiet --python python3.11 "$VENV"
        "$HERE/.venv/bin/uv" pip install --quiet --python "$VENV/bin/python" "apache-flink==$FLINK_VERSION"
    else
        python3.11 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet "apache-flink==$FLINK_VERSION"
    fi
fi

mkdir -p "$JARS/hadoop"
for entry in "${ARTIFACTS[@]}"; do
    read -r coordinate sha256 where <<<"$entry"
    artifact="$(basename "$(dirname "$coordinate")")"
    version="$(basename "$coordinate")"
    folder="$JARS"
    [ "$where" = hadoop ] && folder="$JARS/hadoop"
    jar="$folder/$artifact-$version.jar"
    if [ -f "$jar" ] && echo "$sha256  $jar" | sha256sum --check --status; then
        continue
    fi
    curl -fsSL -o "$jar.part" "$MAVEN/$coordinate/$artifact-$version.jar"
    if ! echo "$sha256  $jar.part" | sha256sum --check --status; then
        echo "checksum mismatch for $artifact-$version.jar (expected $sha256)" >&2
        rm -f "$jar.part"
        exit 1
    fi
    mv "$jar.part" "$jar"
done
echo "PyFlink $FLINK_VERSION in $VENV; JARs in $JARS"
