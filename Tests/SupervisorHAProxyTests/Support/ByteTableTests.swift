import Testing
@testable import SupervisorHAProxy

@Suite struct ByteTables {
    @Test func findsWhatWasInsertedAndNothingElse() {
        var t = ByteTable(expected: 4)
        for i in 0..<1000 { #expect(t.insert(Array("key\(i)".utf8), value: i) == i) }
        #expect(t.count == 1000, "grows past its expected size")
        #expect(t.insert(Array("key7".utf8), value: 99) == 7, "an existing key keeps its value")
        for i in 0..<1000 { #expect(Array("key\(i)".utf8).withBytes { t.find($0) } == i) }
        #expect(Array("key1000".utf8).withBytes { t.find($0) } == nil)
        #expect([UInt8]().withBytes { t.find($0) } == nil)
    }

    @Test func twoPartKeysAreLookedUpWhereTheyLie() {
        var t = ByteTable(expected: 2)
        t.insert(Array("web".utf8), sep: slash, Array("web1".utf8), value: 5)
        let line = Array("web web1".utf8)
        line.withBytes { l in
            #expect(t.find(l.slice(0..<3), slash, l.slice(4..<8)) == 5)
            #expect(t.find(l.slice(0..<3), colon, l.slice(4..<8)) == nil, "the separator is part of the key")
        }
        #expect(Array("web/web1".utf8).withBytes { t.find($0) } == 5, "the same as its concatenation")
    }
}
