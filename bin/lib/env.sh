# Shared by bin/gpt4llm and bin/run-tests: find a JDK 22+ and make sure the build tools exist.
# Sourced, not executed.

G4_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Major version of a java executable (8 for "1.8.0_x", 25 for "25.0.1").
g4_java_major() {
  local v
  v=$("$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -n1)
  v=${v#1.}
  echo "${v%%.*}"
}

# Sets JAVA_HOME to a JDK >= 22: $JAVA_HOME if it qualifies, else `java` on PATH, else the newest
# JDK under /usr/lib/jvm (or /opt/java). The JDK needs javac too, since the launcher may build.
g4_find_jdk() {
  local cand best="" best_major=0 m
  for cand in "${JAVA_HOME:-}" "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")")" \
              /usr/lib/jvm/* /opt/java/*; do
    [ -n "$cand" ] && [ -x "$cand/bin/java" ] && [ -x "$cand/bin/javac" ] || continue
    m=$(g4_java_major "$cand/bin/java")
    [ -n "$m" ] && [ "$m" -ge 22 ] 2>/dev/null || continue
    if [ "$m" -gt "$best_major" ]; then best=$cand; best_major=$m; fi
    [ "$cand" = "${JAVA_HOME:-}" ] && break   # an explicit JAVA_HOME that qualifies wins
  done
  if [ -z "$best" ]; then
    echo "gpt4llm: no JDK 22 or newer found (looked at \$JAVA_HOME, java on PATH, /usr/lib/jvm, /opt/java); install one, e.g. Temurin 25, or set JAVA_HOME" >&2
    return 1
  fi
  export JAVA_HOME=$best
}

# Installs the Debian packages the native build needs when they are missing (CI and fresh machines).
g4_ensure_build_tools() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v g++ >/dev/null || missing+=(g++)
  command -v mvn >/dev/null || missing+=(maven)
  # SIMDe's headers: the tests run the AVX-512 paths through its emulation on CPUs without AVX-512
  [ -f /usr/include/simde/x86/avx512.h ] || missing+=(libsimde-dev)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "gpt4llm: installing ${missing[*]} (Debian packages)" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >&2
}

# Builds java/cli/target/gpt4llm-cli.jar (and classpath.txt, the dependencies' jars, the engine's among
# them) when it is missing or older than any source; the build log goes to java/cli/target/launcher-build.log.
g4_ensure_jar() {
  G4_JAR="$G4_ROOT/java/cli/target/gpt4llm-cli.jar"
  G4_CP_FILE="$G4_ROOT/java/cli/target/classpath.txt"
  local stale=""
  if [ ! -f "$G4_JAR" ] || [ ! -f "$G4_CP_FILE" ]; then
    stale=yes
  elif [ -n "$(find "$G4_ROOT"/java/*/src/main "$G4_ROOT/native" "$G4_ROOT/kernels" "$G4_ROOT/datagen/src" \
                "$G4_ROOT/eval/src" "$G4_ROOT/CMakeLists.txt" "$G4_ROOT"/pom.xml "$G4_ROOT"/*/pom.xml "$G4_ROOT"/java/*/pom.xml \
                -type f -newer "$G4_JAR" -print -quit 2>/dev/null)" ]; then
    stale=yes
  fi
  if [ -n "$stale" ]; then
    g4_ensure_build_tools
    echo "gpt4llm: building (mvn -DskipTests package) ..." >&2
    mkdir -p "$G4_ROOT/java/cli/target"
    (cd "$G4_ROOT" && mvn -B -DskipTests package >"$G4_ROOT/java/cli/target/launcher-build.log" 2>&1) || {
      echo "gpt4llm: the build failed; see $G4_ROOT/java/cli/target/launcher-build.log" >&2
      return 1
    }
  fi
}

# The JVM options the engine needs, in the array G4_JVM_OPTS: native access for Panama, and (JDK 24+)
# permission for JavaCPP's sun.misc.Unsafe use, which would otherwise print warnings.
g4_jvm_opts() {
  G4_JVM_OPTS=(--enable-native-access=ALL-UNNAMED)
  [ "$(g4_java_major "$JAVA_HOME/bin/java")" -ge 24 ] && G4_JVM_OPTS+=(--sun-misc-unsafe-memory-access=allow)
  return 0
}
