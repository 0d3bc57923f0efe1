//! The alphabetical policy: plain byte-wise order (Go's `sort.Strings`), so digits sort before
//! upper case before lower case, `v10` sorts before `v9`, and there is no locale. `asc` picks
//! the greatest key, `desc` the least.

use std::cmp::Ordering;

use super::Order;

/// How a candidate ranks against another: `Greater` means `a` is the better pick. Equal keys
/// fall back to the byte-wise greater original tag, whatever the order.
pub(crate) fn cmp(order: Order, a: (&str, &str), b: (&str, &str)) -> Ordering {
    let by_key = a.0.as_bytes().cmp(b.0.as_bytes());
    let by_key = match order {
        Order::Asc => by_key,
        Order::Desc => by_key.reverse(),
    };
    by_key.then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_has_no_numeric_awareness() {
        fn best<'a>(order: Order, keys: &[&'a str]) -> &'a str {
            keys.iter()
                .copied()
                .max_by(|a, b| cmp(order, (a, a), (b, b)))
                .unwrap()
        }
        let keys = ["v9", "v10", "v1", "V99", "10", "9", "a", "B"];
        assert_eq!(best(Order::Asc, &keys), "v9");
        assert_eq!(best(Order::Desc, &keys), "10");
        // `v10` < `v9`, upper case < lower case, digits < letters.
        assert_eq!(cmp(Order::Asc, ("v10", ""), ("v9", "")), Ordering::Less);
        assert_eq!(cmp(Order::Asc, ("Z", ""), ("a", "")), Ordering::Less);
        assert_eq!(cmp(Order::Asc, ("9", ""), ("A", "")), Ordering::Less);
        // A prefix sorts first.
        assert_eq!(cmp(Order::Asc, ("v1", ""), ("v1.0", "")), Ordering::Less);
    }

    #[test]
    fn equal_keys_prefer_the_greater_tag_in_both_orders() {
        for order in [Order::Asc, Order::Desc] {
            assert_eq!(cmp(order, ("k", "b"), ("k", "a")), Ordering::Greater);
            assert_eq!(cmp(order, ("k", "a"), ("k", "b")), Ordering::Less);
        }
    }
}
