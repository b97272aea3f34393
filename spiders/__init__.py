"""vahti's Scrapy project: spiders per source kind, Tor transport, item pipeline."""

import os

# Scrapy's cookie middleware splits domains with tldextract, which by default
# downloads the public-suffix list from the internet on first use: a clearnet
# request (DNS lookup included) outside Tor. With no list URLs it uses the
# snapshot it ships. Set before Scrapy's cookies module builds its extractor;
# `spiders.services` checks it again at every crawl start.
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
