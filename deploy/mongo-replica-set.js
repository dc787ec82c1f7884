// The replica set's init step (docker-compose.yml, `mongo-init`): initiates the single-node
// replica set `rs0` on the first start, does nothing once it exists, and returns when this
// node is primary, so the service starts against a writable database.
db.getSiblingDB("admin").auth("root", process.env.MONGO_ROOT_PASSWORD);
try {
  rs.status();
  print("replica set rs0 already initiated");
} catch (error) {
  if (error.codeName !== "NotYetInitialized") throw error;
  rs.initiate({ _id: "rs0", members: [{ _id: 0, host: "mongo:27017" }] });
  print("replica set rs0 initiated");
}
for (let waited = 0; !db.hello().isWritablePrimary; waited++) {
  if (waited >= 60) throw new Error("this node did not become primary within 60 s");
  sleep(1000);
}
print("primary");
