//! The response side: an EC2 answer read into a small element tree (names without namespace,
//! text unescaped), walked by path so a `<tagSet>` inside a group is never taken for the group's.

use std::collections::BTreeMap;

use xmlparser::{ElementEnd, Token, Tokenizer};

/// One element: its local name, its text (empty for an element with children) and its children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The local name (`vpcEndpointId`).
    pub name: String,
    /// The text inside, unescaped.
    pub text: String,
    /// The child elements, in order.
    pub children: Vec<Node>,
}

impl Node {
    /// Parse a document; its root element is returned.
    pub fn parse(doc: &str) -> Result<Node, String> {
        let mut stack: Vec<Node> = Vec::new();
        for token in Tokenizer::from(doc) {
            match token.map_err(|e| format!("the answer is not XML: {e}"))? {
                Token::ElementStart { local, .. } => {
                    stack.push(Node {
                        name: local.as_str().to_string(),
                        ..Node::default()
                    });
                }
                Token::ElementEnd {
                    end: ElementEnd::Close(..) | ElementEnd::Empty,
                    ..
                } => {
                    let mut done = stack
                        .pop()
                        .ok_or("the answer closes an element it never opened")?;
                    if !done.children.is_empty() && done.text.trim().is_empty() {
                        done.text.clear();
                    }
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
                Token::Text { text } => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&unescape(text.as_str())?);
                    }
                }
                Token::Cdata { text, .. } => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(text.as_str());
                    }
                }
                _ => {}
            }
        }
        Err("the answer ends before its root element does".into())
    }

    /// The first child of that name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The element at a path of child names.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, name| n.child(name))
    }

    /// A child's text, if the child is there.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// A child's text as a number.
    pub fn int_of(&self, name: &str) -> Option<i32> {
        self.text_of(name).and_then(|t| t.trim().parse().ok())
    }

    /// A child's text as a boolean (`true`).
    pub fn bool_of(&self, name: &str) -> Option<bool> {
        self.text_of(name).map(|t| t.trim() == "true")
    }

    /// The `<item>`s of a list child (`vpcSet`, …); none when the list is absent.
    pub fn items<'a>(&'a self, list: &str) -> impl Iterator<Item = &'a Node> + 'a {
        self.child(list)
            .into_iter()
            .flat_map(|l| l.children.iter().filter(|c| c.name == "item"))
    }

    /// The `tagSet` child as a map.
    pub fn tags(&self) -> BTreeMap<String, String> {
        self.items("tagSet")
            .filter_map(|t| {
                Some((
                    t.text_of("key")?.to_string(),
                    t.text_of("value").unwrap_or_default().to_string(),
                ))
            })
            .collect()
    }
}

/// XML's five named entities and character references.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(';')
            .ok_or_else(|| format!("an unterminated entity in the answer: {}", &rest[at..]))?;
        let entity = &rest[at + 1..at + end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32)
                .ok_or_else(|| format!("an unknown entity in the answer: &{entity};"))?,
        };
        out.push(c);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_lists_are_read_by_path_and_text_is_unescaped() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>r-1</requestId>
    <securityGroupInfo>
        <item>
            <groupId>sg-1</groupId>
            <ipPermissions>
                <item><ipProtocol>tcp</ipProtocol><fromPort>5432</fromPort>
                    <ipRanges><item><cidrIp>10.0.0.0/16</cidrIp></item></ipRanges>
                </item>
            </ipPermissions>
            <tagSet>
                <item><key>Owner</key><value>a &amp; b &#x263A; &#65;</value></item>
                <item><key>Empty</key><value/></item>
            </tagSet>
        </item>
    </securityGroupInfo>
</DescribeSecurityGroupsResponse>"#;
        let root = Node::parse(doc).unwrap();
        assert_eq!(root.name, "DescribeSecurityGroupsResponse");
        let groups: Vec<&Node> = root.items("securityGroupInfo").collect();
        assert_eq!(groups.len(), 1);
        let g = groups[0];
        assert_eq!(g.text_of("groupId"), Some("sg-1"));
        let perm = g.items("ipPermissions").next().unwrap();
        assert_eq!(perm.int_of("fromPort"), Some(5432));
        assert_eq!(perm.int_of("toPort"), None);
        let cidr = perm.items("ipRanges").next().unwrap().text_of("cidrIp");
        assert_eq!(cidr, Some("10.0.0.0/16"));
        let tags = g.tags();
        assert_eq!(tags["Owner"], "a & b \u{263A} A");
        assert_eq!(tags["Empty"], "");
        assert_eq!(g.text, "", "an element with children has no text");
    }

    #[test]
    fn broken_answers_are_errors() {
        assert!(Node::parse("<a><b></a>").is_err());
        assert!(Node::parse("<a>").is_err());
        assert!(Node::parse("<a>&bogus;</a>").is_err());
        assert!(Node::parse("<html>502 Bad Gateway").is_err());
    }
}
