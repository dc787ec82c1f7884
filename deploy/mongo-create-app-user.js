// Run by the mongo image's entrypoint on the first start only (empty data volume), as root,
// before authentication and the replica set are switched on (docker-compose.yml, `mongo`).
// The service's own user: read and write on its database, nothing else.
const database = process.env.ALS_MONGODB_DB || "alexa_linking";
db.getSiblingDB("admin").createUser({
  user: "als",
  pwd: process.env.MONGO_APP_PASSWORD,
  roles: [{ role: "readWrite", db: database }],
});
print(`created the user als (readWrite on ${database})`);
