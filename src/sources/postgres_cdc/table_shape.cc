#include "sources/postgres_cdc/table_shape.h"

#include <algorithm>

#include "sources/postgres_cdc/row_values.h"

namespace annals::pgcdc {

TableName SplitTableName(const std::string& name) {
  const size_t dot = name.find('.');
  if (dot == std::string::npos) return {"public", name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

Result<TableShape> MakeTableShape(const PostgresTableConfig& table,
                                  const std::vector<std::pair<std::string, uint32_t>>& columns,
                                  const std::vector<std::string>& key_names,
                                  const std::string& organization_column) {
  TableShape shape;
  shape.name = SplitTableName(table.name);
  shape.target_type = table.target_type.empty() ? shape.name.table : table.target_type;
  const auto listed = [](const std::vector<std::string>& names, const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  for (const auto& [name, oid] : columns) {
    ColumnShape c;
    c.name = name;
    c.type_oid = oid;
    c.excluded = listed(table.exclude_columns, name);
    c.masked = !c.excluded && listed(table.mask_columns, name);
    shape.columns.push_back(std::move(c));
  }
  const auto index_of = [&](const std::string& name) -> int {
    for (size_t i = 0; i < shape.columns.size(); ++i) {
      if (shape.columns[i].name == name) return static_cast<int>(i);
    }
    return -1;
  };
  if (key_names.empty()) {
    return Status::InvalidArgument("table " + shape.name.Qualified() +
                                       " has no primary key; annals identifies items by it",
                                   "source_schema");
  }
  for (const std::string& key : key_names) {
    const int i = index_of(key);
    if (i < 0) {
      return Status::InvalidArgument("primary-key column " + key + " of table " +
                                         shape.name.Qualified() + " is not among its columns",
                                     "source_schema");
    }
    shape.key_columns.push_back(static_cast<size_t>(i));
  }
  if (!organization_column.empty()) {
    shape.organization_column = index_of(organization_column);
    if (shape.organization_column < 0) {
      return Status::InvalidArgument("table " + shape.name.Qualified() +
                                         " has no column " + organization_column +
                                         " (the configured organization_column)",
                                     "source_schema");
    }
  }
  return shape;
}

Result<RowImage> MakeRowImage(const TableShape& shape, const pgoutput::Tuple& row,
                              const pgoutput::Tuple* old_row, std::string_view mask_key) {
  const auto bad = [&](const std::string& what) {
    return Status::InvalidArgument("a row of " + shape.name.Qualified() + " " + what,
                                   "source_row");
  };
  if (row.size() != shape.columns.size()) {
    return bad("has " + std::to_string(row.size()) + " columns where its relation has " +
               std::to_string(shape.columns.size()));
  }
  if (old_row != nullptr && old_row->size() != row.size()) old_row = nullptr;
  // The values in effect: an unchanged TOASTed value comes from the old row.
  std::vector<const pgoutput::TupleColumn*> values(row.size());
  for (size_t i = 0; i < row.size(); ++i) {
    values[i] = &row[i];
    if (row[i].kind == pgoutput::ColumnKind::kUnchanged) {
      if (old_row == nullptr || (*old_row)[i].kind == pgoutput::ColumnKind::kUnchanged) {
        return bad("left column " + shape.columns[i].name +
                   " unchanged without an old value to take it from (REPLICA IDENTITY FULL "
                   "sends one)");
      }
      values[i] = &(*old_row)[i];
    }
    if (values[i]->kind == pgoutput::ColumnKind::kBinary) {
      return bad("has column " + shape.columns[i].name + " in binary form");
    }
  }
  RowImage out;
  std::vector<std::string_view> key_parts;
  key_parts.reserve(shape.key_columns.size());
  for (size_t k : shape.key_columns) {
    if (values[k]->kind != pgoutput::ColumnKind::kText) {
      return bad("has a NULL primary-key column " + shape.columns[k].name);
    }
    key_parts.push_back(values[k]->data);
  }
  out.id = ItemId(key_parts);
  if (shape.organization_column >= 0) {
    const pgoutput::TupleColumn* org = values[static_cast<size_t>(shape.organization_column)];
    if (org->kind == pgoutput::ColumnKind::kText) out.organization = std::string(org->data);
  }
  out.image.reserve(row.size());
  for (size_t i = 0; i < row.size(); ++i) {
    const ColumnShape& c = shape.columns[i];
    if (c.excluded) continue;
    const pgoutput::TupleColumn& v = *values[i];
    if (v.kind == pgoutput::ColumnKind::kNull) {
      out.image[c.name] = nullptr;
    } else if (c.masked) {
      out.image[c.name] = MaskValue(mask_key, v.data);
    } else {
      out.image[c.name] = ColumnValue(c.type_oid, v.data);
    }
  }
  return out;
}

}  // namespace annals::pgcdc
