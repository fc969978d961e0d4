//! τ-bench retail tools over the `orders` / `products` / `users` database. Behaviour and
//! observation strings follow the reference tools exactly; every check runs before any write, so
//! an error never changes the database.

use super::args::{field_num, field_str, lookup, set, shared_tool, table, table_mut, Args};
use crate::pyjson::{dumps, Num};
use serde_json::{json, Map, Value};

pub const TOOL_NAMES: [&str; 16] = [
    "calculate",
    "cancel_pending_order",
    "exchange_delivered_order_items",
    "find_user_id_by_email",
    "find_user_id_by_name_zip",
    "get_order_details",
    "get_product_details",
    "get_user_details",
    "list_all_product_types",
    "modify_pending_order_address",
    "modify_pending_order_items",
    "modify_pending_order_payment",
    "modify_user_address",
    "return_delivered_order_items",
    "think",
    "transfer_to_human_agents",
];

const ADDRESS: [&str; 6] = ["address1", "address2", "city", "state", "country", "zip"];

/// The tools that may change the database.
pub const WRITERS: [&str; 7] = [
    "cancel_pending_order",
    "exchange_delivered_order_items",
    "modify_pending_order_address",
    "modify_pending_order_items",
    "modify_pending_order_payment",
    "modify_user_address",
    "return_delivered_order_items",
];

/// Runs one tool. `None` when `name` is not a retail tool.
pub fn call(db: &mut Value, name: &str, args: &Value) -> Option<Result<String, String>> {
    match write(db, name, args) {
        Some(r) => Some(r),
        None => read(db, name, args),
    }
}

/// Runs a tool that only reads. `None` when `name` is not such a tool.
pub fn read(db: &Value, name: &str, args: &Value) -> Option<Result<String, String>> {
    let r = match name {
        "find_user_id_by_email" => Args::new(args, &["email"], &["email"]).and_then(|a| {
            let email = a.str("email")?.to_lowercase();
            table(db, "users")
                .iter()
                .find(|(_, u)| {
                    u.get("email")
                        .and_then(Value::as_str)
                        .is_some_and(|e| e.to_lowercase() == email)
                })
                .map(|(id, _)| id.clone())
                .ok_or_else(|| "user not found".into())
        }),
        "find_user_id_by_name_zip" => find_by_name_zip(db, args),
        "get_order_details" => lookup(db, args, "orders", "order_id", "order not found"),
        "get_product_details" => lookup(db, args, "products", "product_id", "product not found"),
        "list_all_product_types" => Args::new(args, &[], &[]).map(|_| {
            let mut by_name: Map<String, Value> = Map::new();
            for p in table(db, "products").values() {
                if let (Some(n), Some(id)) =
                    (p.get("name").and_then(Value::as_str), p.get("product_id"))
                {
                    by_name.insert(n.to_string(), id.clone());
                }
            }
            let mut pairs: Vec<(String, Value)> = by_name.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            dumps(&Value::Object(pairs.into_iter().collect()))
        }),
        _ => return shared_tool(db, name, args),
    };
    Some(r)
}

/// Runs a tool that writes to the database. `None` when `name` is not such a tool.
pub fn write(db: &mut Value, name: &str, args: &Value) -> Option<Result<String, String>> {
    let r = match name {
        "cancel_pending_order" => cancel(db, args),
        "exchange_delivered_order_items" => exchange(db, args),
        "modify_pending_order_address" => modify_order_address(db, args),
        "modify_pending_order_items" => modify_items(db, args),
        "modify_pending_order_payment" => modify_payment(db, args),
        "modify_user_address" => modify_user_address(db, args),
        "return_delivered_order_items" => return_items(db, args),
        _ => return None,
    };
    Some(r)
}

fn find_by_name_zip(db: &Value, args: &Value) -> Result<String, String> {
    let keys = ["first_name", "last_name", "zip"];
    let a = Args::new(args, &keys, &keys)?;
    let (first, last, zip) = (
        a.str("first_name")?.to_lowercase(),
        a.str("last_name")?.to_lowercase(),
        a.str("zip")?,
    );
    let text = |u: &Value, path: [&str; 2]| {
        u.get(path[0])
            .and_then(|v| v.get(path[1]))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    table(db, "users")
        .iter()
        .find(|(_, u)| {
            text(u, ["name", "first_name"]).to_lowercase() == first
                && text(u, ["name", "last_name"]).to_lowercase() == last
                && text(u, ["address", "zip"]) == zip
        })
        .map(|(id, _)| id.clone())
        .ok_or_else(|| "user not found".into())
}

fn address(a: &Args) -> Result<Value, String> {
    let mut m = Map::new();
    for k in ADDRESS {
        m.insert(k.to_string(), a.value(k)?.clone());
    }
    Ok(Value::Object(m))
}

fn modify_order_address(db: &mut Value, args: &Value) -> Result<String, String> {
    let mut keys = vec!["order_id"];
    keys.extend(ADDRESS);
    let a = Args::new(args, &keys, &keys)?;
    let addr = address(&a)?;
    let order = pending_order(db, a.str("order_id")?, "modified")?;
    set(order, "address", addr);
    Ok(dumps(order))
}

fn modify_user_address(db: &mut Value, args: &Value) -> Result<String, String> {
    let mut keys = vec!["user_id"];
    keys.extend(ADDRESS);
    let a = Args::new(args, &keys, &keys)?;
    let addr = address(&a)?;
    let user = table_mut(db, "users")
        .get_mut(a.str("user_id")?)
        .ok_or("user not found")?;
    set(user, "address", addr);
    Ok(dumps(user))
}

fn order_status(order: &Value) -> &str {
    order.get("status").and_then(Value::as_str).unwrap_or("")
}

fn pending_order<'d>(db: &'d mut Value, id: &str, verb: &str) -> Result<&'d mut Value, String> {
    let order = table_mut(db, "orders")
        .get_mut(id)
        .ok_or("order not found")?;
    if order_status(order) != "pending" {
        return Err(format!("non-pending order cannot be {verb}"));
    }
    Ok(order)
}

/// The user's payment methods for an order's owner.
fn methods_of<'d>(db: &'d Value, order: &Value) -> Result<&'d Value, String> {
    let uid = field_str(order, "user_id")?;
    table(db, "users")
        .get(uid)
        .and_then(|u| u.get("payment_methods"))
        .ok_or_else(|| format!("'{uid}'"))
}

/// Adds `delta` to gift card `pid` of `uid`, rounding the balance to cents as the reference does.
fn add_to_balance(db: &mut Value, uid: &str, pid: &str, delta: Num) -> Result<(), String> {
    let m = table_mut(db, "users")
        .get_mut(uid)
        .and_then(|u| u.get_mut("payment_methods"))
        .and_then(|m| m.get_mut(pid))
        .ok_or_else(|| format!("'{pid}'"))?;
    let balance = field_num(m, "balance")?.plus(delta).round(2);
    set(m, "balance", balance.to_value());
    Ok(())
}

fn cancel(db: &mut Value, args: &Value) -> Result<String, String> {
    let keys = ["order_id", "reason"];
    let a = Args::new(args, &keys, &keys)?;
    let id = a.str("order_id")?;
    let reason = a.str("reason")?;
    let order = pending_order(db, id, "cancelled")?.clone();
    if reason != "no longer needed" && reason != "ordered by mistake" {
        return Err("invalid reason".into());
    }
    let uid = field_str(&order, "user_id")?.to_string();
    let history = order
        .get("payment_history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let methods = methods_of(db, &order)?;
    let mut refunds = Vec::new();
    for p in &history {
        let pid = field_str(p, "payment_method_id")?;
        if pid.contains("gift_card") && methods.get(pid).is_none() {
            return Err(format!("'{pid}'"));
        }
        refunds.push(json!({
            "transaction_type": "refund",
            "amount": p.get("amount").cloned().ok_or("'amount'")?,
            "payment_method_id": pid,
        }));
    }
    // Gift cards are refunded at once; other methods outside the database.
    for p in &history {
        let pid = field_str(p, "payment_method_id")?;
        if pid.contains("gift_card") {
            add_to_balance(db, &uid, pid, field_num(p, "amount")?)?;
        }
    }
    let order = table_mut(db, "orders").get_mut(id).expect("checked");
    set(order, "status", json!("cancelled"));
    set(order, "cancel_reason", json!(reason));
    if let Some(h) = order
        .get_mut("payment_history")
        .and_then(Value::as_array_mut)
    {
        h.extend(refunds);
    }
    Ok(dumps(order))
}

/// Fails with `missing` unless every id in `wanted` occurs in the order at least as often.
fn check_items(
    order: &Value,
    wanted: &[String],
    missing: impl Fn(&str) -> String,
) -> Result<(), String> {
    let have: Vec<&str> = order
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("item_id").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    for id in wanted {
        let want = wanted.iter().filter(|w| *w == id).count();
        if want > have.iter().filter(|h| **h == id).count() {
            return Err(missing(id));
        }
    }
    Ok(())
}

fn first_item<'o>(order: &'o Value, item_id: &str) -> Result<&'o Value, String> {
    order
        .get("items")
        .and_then(Value::as_array)
        .and_then(|items| {
            items
                .iter()
                .find(|i| i.get("item_id").and_then(Value::as_str) == Some(item_id))
        })
        .ok_or_else(|| "list index out of range".to_string())
}

fn variant<'d>(
    db: &'d Value,
    product_id: &str,
    item_id: &str,
) -> Result<Option<&'d Value>, String> {
    let product = table(db, "products")
        .get(product_id)
        .ok_or_else(|| format!("'{product_id}'"))?;
    Ok(product.get("variants").and_then(|v| v.get(item_id)))
}

/// The price difference of swapping `old[i]` for `new[i]` in `order`, checking every new item
/// exists and is available.
fn price_difference(
    db: &Value,
    order: &Value,
    old: &[String],
    new: &[String],
) -> Result<Num, String> {
    if old.len() != new.len() {
        return Err("the number of items to be exchanged should match".into());
    }
    let mut diff = Num::Int(0);
    for (old_id, new_id) in old.iter().zip(new) {
        let item = first_item(order, old_id)?;
        let product_id = field_str(item, "product_id")?;
        let v = variant(db, product_id, new_id)?
            .filter(|v| v.get("available").and_then(Value::as_bool).unwrap_or(false))
            .ok_or_else(|| format!("new item {new_id} not found or available"))?;
        diff = diff.plus(field_num(v, "price")?.minus(field_num(item, "price")?));
    }
    Ok(diff)
}

fn gift_card_short(methods: &Value, pid: &str, amount: Num) -> Result<bool, String> {
    let m = methods.get(pid).ok_or("payment method not found")?;
    Ok(m.get("source").and_then(Value::as_str) == Some("gift_card")
        && field_num(m, "balance")?.lt(amount))
}

fn exchange(db: &mut Value, args: &Value) -> Result<String, String> {
    let keys = ["order_id", "item_ids", "new_item_ids", "payment_method_id"];
    let a = Args::new(args, &keys, &keys)?;
    let id = a.str("order_id")?;
    let (old, new) = (a.str_list("item_ids")?, a.str_list("new_item_ids")?);
    let pid = a.str("payment_method_id")?;
    let order = table(db, "orders").get(id).ok_or("order not found")?;
    if order_status(order) != "delivered" {
        return Err("non-delivered order cannot be exchanged".into());
    }
    check_items(order, &old, |i| format!("{i} not found"))?;
    let diff = price_difference(db, order, &old, &new)?.round(2);
    if gift_card_short(methods_of(db, order)?, pid, diff)? {
        return Err("insufficient gift card balance to pay for the price difference".into());
    }
    let (mut old_sorted, mut new_sorted) = (old, new);
    old_sorted.sort();
    new_sorted.sort();
    let order = table_mut(db, "orders").get_mut(id).expect("checked");
    set(order, "status", json!("exchange requested"));
    set(order, "exchange_items", json!(old_sorted));
    set(order, "exchange_new_items", json!(new_sorted));
    set(order, "exchange_payment_method_id", json!(pid));
    set(order, "exchange_price_difference", diff.to_value());
    Ok(dumps(order))
}

fn modify_items(db: &mut Value, args: &Value) -> Result<String, String> {
    let keys = ["order_id", "item_ids", "new_item_ids", "payment_method_id"];
    let a = Args::new(args, &keys, &keys)?;
    let id = a.str("order_id")?;
    let (old, new) = (a.str_list("item_ids")?, a.str_list("new_item_ids")?);
    let pid = a.str("payment_method_id")?;
    let order = table(db, "orders").get(id).ok_or("order not found")?;
    if order_status(order) != "pending" {
        return Err("non-pending order cannot be modified".into());
    }
    check_items(order, &old, |i| format!("{i} not found"))?;
    let diff = price_difference(db, order, &old, &new)?;
    if gift_card_short(methods_of(db, order)?, pid, diff)? {
        return Err("insufficient gift card balance to pay for the new item".into());
    }
    let uid = field_str(order, "user_id")?.to_string();
    let is_gift_card = methods_of(db, order)?
        .get(pid)
        .and_then(|m| m.get("source"))
        .and_then(Value::as_str)
        == Some("gift_card");
    // New item details, resolved before any write.
    let mut order = order.clone();
    for (old_id, new_id) in old.iter().zip(&new) {
        let items = order
            .get_mut("items")
            .and_then(Value::as_array_mut)
            .ok_or("'items'")?;
        let item = items
            .iter_mut()
            .find(|i| i.get("item_id").and_then(Value::as_str) == Some(old_id))
            .ok_or("list index out of range")?;
        let product_id = field_str(item, "product_id")?.to_string();
        let v = variant(db, &product_id, new_id)?
            .ok_or_else(|| format!("'{new_id}'"))?
            .clone();
        set(item, "item_id", json!(new_id));
        set(item, "price", v.get("price").cloned().ok_or("'price'")?);
        set(
            item,
            "options",
            v.get("options").cloned().ok_or("'options'")?,
        );
    }
    if let Some(h) = order
        .get_mut("payment_history")
        .and_then(Value::as_array_mut)
    {
        h.push(json!({
            "transaction_type": if diff.is_positive() { "payment" } else { "refund" },
            "amount": diff.abs().to_value(),
            "payment_method_id": pid,
        }));
    }
    set(&mut order, "status", json!("pending (item modified)"));
    if is_gift_card {
        add_to_balance(db, &uid, pid, diff.negated())?;
    }
    let out = dumps(&order);
    table_mut(db, "orders").insert(id.to_string(), order);
    Ok(out)
}

fn modify_payment(db: &mut Value, args: &Value) -> Result<String, String> {
    let keys = ["order_id", "payment_method_id"];
    let a = Args::new(args, &keys, &keys)?;
    let id = a.str("order_id")?;
    let pid = a.str("payment_method_id")?;
    let order = table(db, "orders").get(id).ok_or("order not found")?;
    if order_status(order) != "pending" {
        return Err("non-pending order cannot be modified".into());
    }
    let methods = methods_of(db, order)?;
    if methods.get(pid).is_none() {
        return Err("payment method not found".into());
    }
    let history = order
        .get("payment_history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let first = history.first().ok_or("list index out of range")?;
    if history.len() > 1 || first.get("transaction_type").and_then(Value::as_str) != Some("payment")
    {
        return Err("there should be exactly one payment for a pending order".into());
    }
    let old_pid = field_str(first, "payment_method_id")?.to_string();
    if old_pid == pid {
        return Err("the new payment method should be different from the current one".into());
    }
    let amount = field_num(first, "amount")?;
    if gift_card_short(methods, pid, amount)? {
        return Err("insufficient gift card balance to pay for the order".into());
    }
    let new_is_gift_card = methods[pid].get("source").and_then(Value::as_str) == Some("gift_card");
    if old_pid.contains("gift_card") && methods.get(&old_pid).is_none() {
        return Err(format!("'{old_pid}'"));
    }
    let uid = field_str(order, "user_id")?.to_string();
    let amount_v = first.get("amount").cloned().ok_or("'amount'")?;
    if new_is_gift_card {
        add_to_balance(db, &uid, pid, amount.negated())?;
    }
    if old_pid.contains("gift_card") {
        add_to_balance(db, &uid, &old_pid, amount)?;
    }
    let order = table_mut(db, "orders").get_mut(id).expect("checked");
    if let Some(h) = order
        .get_mut("payment_history")
        .and_then(Value::as_array_mut)
    {
        h.push(
            json!({"transaction_type": "payment", "amount": amount_v, "payment_method_id": pid}),
        );
        h.push(
            json!({"transaction_type": "refund", "amount": amount_v, "payment_method_id": old_pid}),
        );
    }
    Ok(dumps(order))
}

fn return_items(db: &mut Value, args: &Value) -> Result<String, String> {
    let keys = ["order_id", "item_ids", "payment_method_id"];
    let a = Args::new(args, &keys, &keys)?;
    let id = a.str("order_id")?;
    let items = a.str_list("item_ids")?;
    let pid = a.str("payment_method_id")?;
    let order = table(db, "orders").get(id).ok_or("order not found")?;
    if order_status(order) != "delivered" {
        return Err("non-delivered order cannot be returned".into());
    }
    if methods_of(db, order)?.get(pid).is_none() {
        return Err("payment method not found".into());
    }
    let original = order
        .get("payment_history")
        .and_then(|h| h.get(0))
        .and_then(|p| p.get("payment_method_id"))
        .and_then(Value::as_str)
        .ok_or("list index out of range")?;
    if !pid.contains("gift_card") && pid != original {
        return Err(
            "payment method should be either the original payment method or a gift card".into(),
        );
    }
    check_items(order, &items, |_| "some item not found".into())?;
    let mut sorted = items;
    sorted.sort();
    let order = table_mut(db, "orders").get_mut(id).expect("checked");
    set(order, "status", json!("return requested"));
    set(order, "return_items", json!(sorted));
    set(order, "return_payment_method_id", json!(pid));
    Ok(dumps(order))
}
