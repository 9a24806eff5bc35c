-- Listings by kind (`dstack ps` reads runs and jobs, not every fleet and
-- instance) walk this index instead of the whole table.
CREATE INDEX resources_kind ON resources (kind, address);
