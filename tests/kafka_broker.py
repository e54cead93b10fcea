"""A real Apache Kafka broker for tests: official jars from Maven Central, one KRaft node.

No Docker here, so the harness fetches the broker's jars by pinned Maven coordinates
(with ``mvn``, into a cache outside the repository), checks the SHA-256 of the main ones,
and runs a single combined broker+controller on 127.0.0.1 from a temporary folder.

    with KafkaBroker() as broker:
        bus = KafkaBus(broker.bootstrap)
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from lakeforge.children import stop_process

KAFKA_VERSION = "4.1.0"

#: What Maven resolves, with their runtime dependencies: the broker itself, and an SLF4J
#: binding so that the broker's log reaches a file we can show when it fails to start.
COORDINATES = (
    f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
    "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3",
)

#: SHA-256 of the jars that are the broker; checked on every start, not only on fetch,
#: so a damaged or swapped cache is caught. (Maven also checks Central's SHA-1 files.)
PINNED_SHA256 = {
    f"kafka_2.13-{KAFKA_VERSION}.jar": (
        "0de0471a4c7a9e734c166822a26a4bb064eb81cb2c7a8b1345912cad78997a7b"
    ),
    f"kafka-clients-{KAFKA_VERSION}.jar": (
        "eb74709dc3be35e06208827860c87a94872e8a4b00f466880670785c85a20627"
    ),
    f"kafka-server-common-{KAFKA_VERSION}.jar": (
        "73b8b467597429cc0f3c959b0bb1181556071aaab13a6240b9877a37a8c312d0"
    ),
    f"kafka-raft-{KAFKA_VERSION}.jar": (
        "0d56f0f0735be4fd2c25da02034ae2d7dd0764298cef7d197e99cb8650e1bb1a"
    ),
    f"kafka-metadata-{KAFKA_VERSION}.jar": (
        "d11d14a04391776f0d52dcebcdc4cc7438495984cd5213b62c0e70dc8b81e2fc"
    ),
    f"kafka-storage-{KAFKA_VERSION}.jar": (
        "d4b5cebcd9aeeb2db68b6ff3922bf08e776bb7d4c90f1045768267192625c810"
    ),
    f"kafka-server-{KAFKA_VERSION}.jar": (
        "fb7765a18b46b6635eae385fb1d890955aa67960aa408d5dfe48c17f2d400b9a"
    ),
}

START_TIMEOUT_S = 60.0

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lakeforge.tests</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = console
"""


class BrokerError(RuntimeError):
    """The test broker could not be fetched or started; the message says why."""


def cache_dir() -> Path:
    """Where the jars are kept between runs (outside the repository, never committed)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lakeforge" / f"kafka-{KAFKA_VERSION}"


def fetch_jars(folder: Path | None = None) -> Path:
    """Return the folder holding the broker's jars, fetching them with Maven if needed."""
    folder = folder or cache_dir()
    if not (folder / ".complete").exists():
        _download(folder)
    _verify(folder)
    return folder


def _download(folder: Path) -> None:
    if shutil.which("mvn") is None:
        raise BrokerError("the Kafka test broker needs Maven (mvn) to fetch its jars")
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Resolve into a sibling folder and rename, so an interrupted fetch leaves no half cache.
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as work:
        dependencies = "\n".join(
            "    <dependency><groupId>{}</groupId><artifactId>{}</artifactId>"
            "<version>{}</version></dependency>".format(*c.split(":"))
            for c in COORDINATES
        )
        (Path(work) / "pom.xml").write_text(_POM.format(dependencies=dependencies))
        jars = Path(work) / "jars"
        command = [
            "mvn", "-B", "-q", "-f", str(Path(work) / "pom.xml"),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={jars}",
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as error:
            raise BrokerError("Maven took over 15 minutes to fetch the Kafka jars") from error
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise BrokerError(
                f"Maven could not fetch {', '.join(COORDINATES)} (is Maven Central "
                f"reachable?); its output ends:\n{tail}"
            )
        (jars / ".complete").write_text("\n".join(COORDINATES) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        jars.rename(folder)


def _verify(folder: Path) -> None:
    for name, expected in PINNED_SHA256.items():
        path = folder / name
        if not path.exists():
            raise BrokerError(f"{path} is missing; delete {folder} to fetch the jars again")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise BrokerError(
                f"{path} has SHA-256 {actual}, not the pinned {expected}; "
                f"delete {folder} to fetch the jars again"
            )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class KafkaBroker:
    """One KRaft node (broker and controller) on 127.0.0.1, data in a temporary folder."""

    def __init__(self, jars: Path | None = None) -> None:
        self.jars = jars
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """The broker's stdout and stderr (its log)."""
        assert self._workdir is not None
        return Path(self._workdir.name) / "server.log"

    def start(self) -> str:
        """Fetch the jars if needed, format the storage, start the broker; return bootstrap."""
        jars = self.jars or fetch_jars()
        self._workdir = tempfile.TemporaryDirectory(prefix="lakeforge-kafka-")
        work = Path(self._workdir.name)
        properties = work / "server.properties"
        properties.write_text(self._properties(work / "data"))
        (work / "log4j2.properties").write_text(_LOG4J2)
        java = [
            "java", "-Xms256m", "-Xmx512m", "-XX:+UseSerialGC",
            f"-Dlog4j2.configurationFile={work / 'log4j2.properties'}",
            "-cp", f"{jars}/*",
        ]  # fmt: skip
        # KRaft storage must be formatted with a cluster id before the first start.
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # "=" because a base64 id may start with "-", which would read as an option.
        storage = ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}"]
        formatted = subprocess.run(
            [*java, *storage, "-c", str(properties)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if formatted.returncode != 0:
            output = (formatted.stdout + formatted.stderr)[-3000:]
            raise BrokerError(f"formatting the Kafka storage failed:\n{output}")
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [*java, "kafka.Kafka", str(properties)], stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_ready()
        return self.bootstrap

    def _properties(self, data: Path) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data),
            # One node: internal topics cannot have more replicas than that.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": "0"})
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"the Kafka broker exited with code {self._process.returncode}")
            try:
                metadata = admin.list_topics(timeout=2)
                if metadata.brokers:
                    return
            except Exception:  # not up yet: the deadline decides
                pass
            time.sleep(0.2)
        self._fail(f"the Kafka broker did not accept connections within {START_TIMEOUT_S:.0f} s")

    def _fail(self, what: str) -> None:
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
        self.stop()
        raise BrokerError(f"{what} on {self.bootstrap}; its log ends:\n{tail}")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 20 s) and delete its data."""
        if self._process is not None:
            stop_process(self._process, timeout=20)
            self._process = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
