"""Exit 0 when the MongoDB-protocol server at argv[1] answers a ping (used by stack.sh)."""

import sys

from pymongo import MongoClient
from pymongo.errors import PyMongoError

try:
    MongoClient(sys.argv[1], serverSelectionTimeoutMS=1000).admin.command("ping")
except PyMongoError:
    sys.exit(1)
