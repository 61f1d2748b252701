#!/bin/sh
# Generate the demo data and load it through the services' own import commands, as `make run` does
# (tdu_dev.infra.platform): the catalogue first, then the offers. Run by the demo-loader container
# of docker-compose.yml, once the services are healthy; the environment gives Kafka and the store.
# Each command connects to Kafka as its own principal (tdu_shared.access.kafka), as `make run` runs them:
# the imports as trainings and offers, the operators' tdu-access as access-admin; docker-compose.yml gives
# their passwords (TDU_KAFKA_PASSWORD_<PRINCIPAL>), none needed against a broker without authentication.
set -eu
out="${DEMO_DIR:-/tmp/demo}"
python /app/demo/generate.py --out "$out"
KAFKA_SASL_USERNAME=trainings KAFKA_SASL_PASSWORD="${TDU_KAFKA_PASSWORD_TRAININGS:-}" MONGODB_DATABASE=trainings \
  trainings import "$out/catalogue.xml" --source demo-carif-grand-est --json
KAFKA_SASL_USERNAME=offers KAFKA_SASL_PASSWORD="${TDU_KAFKA_PASSWORD_OFFERS:-}" MONGODB_DATABASE=offers \
  offers import "$out/offers.json" --json
echo "demo data loaded: search http://localhost:8003/search?lat=49.1193&lon=6.1757&radius_km=30"
export KAFKA_SASL_USERNAME=access-admin KAFKA_SASL_PASSWORD="${TDU_KAFKA_PASSWORD_ACCESS_ADMIN:-}"
# Credentials to call the APIs as a partner of the Metz basin and as its operator (development secret).
echo "partner key, Metz basin (4410): $(tdu-access keys create --partner demo-partenaire-metz --basin 4410 \
  --capability applications:write --capability journeys:read --capability journeys:write \
  --capability kpis:read --capability offers:write --by operateur.metz@traitdunion.eu --json)"
echo "operator of Metz, 8 h session: $(tdu-access session --role basin_operator \
  --subject operateur.metz@traitdunion.eu --email operateur.metz@traitdunion.eu --basin 4410)"
