// A captured table's shape (its columns as the latest Relation message or the snapshot
// query describes them, with the configuration's exclusions and masks applied) and the
// conversion of one row into the JSON image, item id and organization value an event needs.
// Plain values and pure functions; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/status.h"
#include "sources/postgres_cdc/pgoutput.h"
#include "sources/source_config.h"

namespace annals::pgcdc {

// "schema.table" split into its parts ("public" when the name has no schema).
struct TableName {
  std::string schema;
  std::string table;
  std::string Qualified() const { return schema + "." + table; }
};
TableName SplitTableName(const std::string& name);

struct ColumnShape {
  std::string name;
  uint32_t type_oid = 0;
  bool excluded = false;
  bool masked = false;
};

struct TableShape {
  TableName name;
  std::string target_type;
  std::vector<ColumnShape> columns;  // in tuple order
  std::vector<size_t> key_columns;   // indexes into `columns`, in primary-key order
  int organization_column = -1;      // index into `columns`, -1 with a fixed organization
};

// Builds the shape of `table` from its current columns (name, type OID) in tuple order.
// kInvalidArgument "source_schema" when a primary-key column or the organization column is
// not among them.
Result<TableShape> MakeTableShape(const PostgresTableConfig& table,
                                  const std::vector<std::pair<std::string, uint32_t>>& columns,
                                  const std::vector<std::string>& key_names,
                                  const std::string& organization_column);

// One row as an event needs it.
struct RowImage {
  boost::json::object image;  // every captured column; excluded ones absent, masked as HMAC
  std::string id;             // the item id from the primary key
  // The organization column's text; nullopt when NULL or when the shape has none.
  std::optional<std::string> organization;
};

// Converts `row` (a pgoutput tuple, or a snapshot row in the same form). A column sent as
// unchanged TOAST ('u') takes its value from `old_row` (the old image under REPLICA IDENTITY
// FULL). kInvalidArgument "source_row" when the tuple does not match the shape, a key column
// is NULL, or an unchanged value has no old value to come from.
Result<RowImage> MakeRowImage(const TableShape& shape, const pgoutput::Tuple& row,
                              const pgoutput::Tuple* old_row, std::string_view mask_key);

}  // namespace annals::pgcdc
