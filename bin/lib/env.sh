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
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "gpt4llm: installing ${missing[*]} (Debian packages)" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >&2
}
