#!/usr/bin/env bash
# The Kafka of docker-compose.yml (apache/kafka image), started the way the development launcher starts its
# own (tools/src/tdu_dev/infra/servers.py): clients authenticate with SASL SCRAM-SHA-512, the
# StandardAuthorizer enforces the ACLs that kafka-setup applies (tdu_shared.access.kafka), and every SCRAM
# user exists from the moment the storage is formatted.
#
# It takes the place of the image's own start (/etc/kafka/docker/run), whose storage format makes no SCRAM
# user:
#   1. server.properties from the KAFKA_* variables, named as the image names them (KAFKA_ dropped, lower
#      case, _ -> ., __ -> _, ___ -> -), plus the JAAS line of each SASL listener (the admin's credentials:
#      the broker's own client on its inter-broker listener);
#   2. `kafka-storage.sh format --ignore-formatted --add-scram ...` with one SCRAM-SHA-512 user per name of
#      TDU_SCRAM_USERS, whose password is TDU_KAFKA_PASSWORD_<NAME> (upper case, - as _): no default
#      anywhere, compose refuses to start without them (deploy/compose/kafka.env.example);
#   3. the admin's client file that the healthcheck uses ($conf/admin.properties, readable by the broker's
#      user only);
#   4. the broker (kafka-server-start.sh).
# tests/deploy/test_compose_kafka.py runs this script against the compose file's variables.
set -euo pipefail

home="${TDU_KAFKA_HOME:-/opt/kafka}"
conf="${TDU_KAFKA_CONFIG_DIR:-/tmp/tdu-kafka}"

fail() {
  echo "kafka-start: $*" >&2
  exit 1
}

password_of() { # the password of a SCRAM user, checked
  local var value
  var="TDU_KAFKA_PASSWORD_$(printf '%s' "$1" | tr 'a-z-' 'A-Z_')"
  value="${!var:-}"
  if [[ ! $value =~ ^[A-Za-z0-9_-]{16,}$ ]]; then
    fail "$var must be set to 16 or more letters, digits, - or _ (see deploy/compose/kafka.env.example)"
  fi
  printf '%s' "$value"
}

# ---------------------------------------------------------------- the users and their passwords

read -r -a users <<<"${TDU_SCRAM_USERS:-}"
[[ " ${users[*]} " == *" admin "* ]] || fail "TDU_SCRAM_USERS must name admin, the super user"
[[ -n ${CLUSTER_ID:-} ]] || fail "CLUSTER_ID must be set"
admin_password=$(password_of admin)
scram=()
for user in "${users[@]}"; do
  [[ $user =~ ^[a-z0-9-]+$ ]] || fail "SCRAM user '$user': lower-case letters, digits and - only"
  password=$(password_of "$user")
  scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$password]")
done
jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$admin_password\";"

umask 077
mkdir -p "$conf"

# ---------------------------------------------------------------- 1. server.properties

props="$conf/server.properties"
{
  for name in "${!KAFKA_@}"; do # the KAFKA_* variables compose sets
    case $name in
      # the JVM's and the image's own variables, not the broker's properties
      KAFKA_VERSION | KAFKA_HEAP_OPTS | KAFKA_LOG4J_OPTS | KAFKA_OPTS | KAFKA_JMX_OPTS | \
        KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_GC_LOG_OPTS | KAFKA_JMX_HOSTNAME | KAFKA_LOG4J_* | \
        KAFKA_TOOLS_LOG4J_*) ;;
      KAFKA_*)
        key="${name#KAFKA_}"
        key="${key,,}"
        key="${key//_/.}"
        key="${key//.../-}"
        key="${key//../_}"
        printf '%s=%s\n' "$key" "${!name}"
        ;;
    esac
  done
  IFS=, read -r -a protocols <<<"${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP:?KAFKA_LISTENER_SECURITY_PROTOCOL_MAP must be set}"
  for entry in "${protocols[@]}"; do
    if [[ ${entry#*:} == SASL_* ]]; then
      listener="${entry%%:*}"
      printf 'listener.name.%s.scram-sha-512.sasl.jaas.config=%s\n' "${listener,,}" "$jaas"
    fi
  done
} >"$props"

# ---------------------------------------------------------------- 2. the storage, with the SCRAM users

# --ignore-formatted: a restarted container keeps its storage and the users it was formatted with
# (`docker compose down` before changing a password).
"$home/bin/kafka-storage.sh" format --cluster-id="$CLUSTER_ID" -c "$props" --ignore-formatted "${scram[@]}"

# ---------------------------------------------------------------- 3. the healthcheck's client file

cat >"$conf/admin.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$jaas
EOF

# ---------------------------------------------------------------- 4. the broker

exec "$home/bin/kafka-server-start.sh" "$props"
