#!/bin/sh
# Generate the demo data and load it through the services' own import commands, as `make run` does
# (tdu_dev.infra.platform): the catalogue first, then the offers. Run by the demo-loader container
# of docker-compose.yml, once the services are healthy; the environment gives Kafka and the store.
set -eu
out="${DEMO_DIR:-/tmp/demo}"
python /app/demo/generate.py --out "$out"
MONGODB_DATABASE=trainings trainings import "$out/catalogue.xml" --source demo-carif-grand-est --json
MONGODB_DATABASE=offers offers import "$out/offers.json" --json
echo "demo data loaded: search http://localhost:8003/search?lat=49.1193&lon=6.1757&radius_km=30"
# Credentials to call the APIs as a partner of the Metz basin and as its operator (development secret).
echo "partner key, Metz basin (4410): $(tdu-access keys create --partner demo-partenaire-metz --basin 4410 \
  --capability applications:write --capability journeys:read --capability journeys:write \
  --capability kpis:read --capability offers:write --by operateur.metz@traitdunion.eu --json)"
echo "operator of Metz, 8 h session: $(tdu-access session --role basin_operator \
  --subject operateur.metz@traitdunion.eu --email operateur.metz@traitdunion.eu --basin 4410)"
