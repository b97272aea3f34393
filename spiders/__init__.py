"""vahti's Scrapy project: spiders per source kind, Tor transport, item pipeline."""
