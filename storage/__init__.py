"""The only code that imports pymongo: collections, indexes, repositories, embedded server."""
