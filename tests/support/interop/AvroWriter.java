// Writes Object Container Files the way a Java game server does (Apache Avro's
// DataFileWriter, generic records, BigDecimal through Avro's DecimalConversion), one file
// per schema and codec, the same rows single-object encoded (BinaryMessageEncoder), and
// prints each schema's SchemaNormalization.parsingFingerprint64.
//
// Usage: java AvroWriter OUT_DIR AVSC_DIR ROWS
// (AVSC_DIR: interop, columnar, avrointerop and weather.avsc)
// Prints "fingerprint <avsc name> <16 hex digits, little-endian as in single-object headers>"
// and "file <path>" per file written.

import java.io.File;
import java.io.FileOutputStream;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.avro.Conversions;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.file.CodecFactory;
import org.apache.avro.file.DataFileWriter;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;

public class AvroWriter {
  // Avro 1.8.2's codecs (zstandard arrived in Avro 1.9)
  static final String[] CODECS = {"null", "deflate", "snappy", "bzip2", "xz"};
  static final Conversions.DecimalConversion DECIMALS = new Conversions.DecimalConversion();

  public static void main(String[] args) throws Exception {
    File out = new File(args[0]);
    Schema interop = new Schema.Parser().parse(new File(args[1], "interop.avsc"));
    Schema columnar = new Schema.Parser().parse(new File(args[1], "columnar.avsc"));
    Schema avroInterop = new Schema.Parser().parse(new File(args[1], "avrointerop.avsc"));
    Schema weather = new Schema.Parser().parse(new File(args[1], "weather.avsc"));
    int rows = Integer.parseInt(args[2]);
    List<GenericRecord> interopRows = new ArrayList<>();
    List<GenericRecord> columnarRows = new ArrayList<>();
    List<GenericRecord> avroInteropRows = new ArrayList<>();
    for (int i = 0; i < rows; i++) {
      interopRows.add(interopRow(interop, i));
      columnarRows.add(project(interopRows.get(i), columnar));
      avroInteropRows.add(avroInteropRow(avroInterop, i));
    }
    for (String codec : CODECS) {
      write(new File(out, "interop-" + codec + ".avro"), interop, interopRows, codec, null);
      write(new File(out, "columnar-" + codec + ".avro"), columnar, columnarRows, codec, null);
      write(new File(out, "avrointerop-" + codec + ".avro"), avroInterop, avroInteropRows, codec, null);
      write(new File(out, "weather-" + codec + ".avro"), weather, weatherRows(weather), codec, null);
    }
    Schema generated = new Schema.Parser().parse(columnar.toString());
    markStrings(generated);
    write(new File(out, "columnar-javastring.avro"), generated, columnarRows, "snappy", null);
    // Like Avro's own syncInMeta.avro: a metadata value that is not UTF-8 and holds the
    // sync marker itself (a reader must not look for markers inside the header).
    byte[] sync = "SYNC-in-META-16b".getBytes(StandardCharsets.US_ASCII);
    byte[] meta = ByteBuffer.allocate(20).put(sync).put(new byte[] {(byte) 0xff, 0, (byte) 0xfe, 1}).array();
    write(new File(out, "weather-syncinmeta.avro"), weather, weatherRows(weather), "deflate", sync, meta);
    String[] names = {"interop", "columnar", "avrointerop", "weather"};
    Schema[] schemas = {interop, columnar, avroInterop, weather};
    List<List<GenericRecord>> rowsOf =
        Arrays.asList(interopRows, columnarRows, avroInteropRows, weatherRows(weather));
    for (int s = 0; s < schemas.length; s++) {
      writeSingleObjects(new File(out, names[s] + "-single.bin"), schemas[s], rowsOf.get(s));
      long fp = SchemaNormalization.parsingFingerprint64(schemas[s]);
      byte[] le = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(fp).array();
      StringBuilder hex = new StringBuilder();
      for (byte b : le) {
        hex.append(String.format("%02x", b));
      }
      System.out.println("fingerprint " + names[s] + " " + hex);
    }
  }

  static void write(File file, Schema schema, List<GenericRecord> rows, String codec, byte[] sync,
      byte[]... meta) throws Exception {
    try (DataFileWriter<GenericRecord> writer =
        new DataFileWriter<>(new GenericDatumWriter<GenericRecord>(schema))) {
      writer.setCodec(CodecFactory.fromString(codec));
      writer.setSyncInterval(4096); // several blocks per file
      if (meta.length > 0) {
        writer.setMeta("user.binary", meta[0]);
      }
      if (sync != null) {
        writer.create(schema, new FileOutputStream(file), sync);
      } else {
        writer.create(schema, file);
      }
      for (GenericRecord row : rows) {
        writer.append(row);
      }
    }
    System.out.println("file " + file);
  }

  // As Avro's code generator with stringType String does: every string (and map)
  // carries "avro.java.string": "String" in the schema it embeds in each file's header.
  static void markStrings(Schema schema) {
    switch (schema.getType()) {
      case STRING:
        schema.addProp("avro.java.string", "String");
        break;
      case MAP:
        schema.addProp("avro.java.string", "String");
        markStrings(schema.getValueType());
        break;
      case ARRAY:
        markStrings(schema.getElementType());
        break;
      case RECORD:
        for (Schema.Field field : schema.getFields()) {
          markStrings(field.schema());
        }
        break;
      case UNION:
        for (Schema branch : schema.getTypes()) {
          markStrings(branch);
        }
        break;
      default:
        break;
    }
  }

  // Avro's interop schema: a null field, a union of three types, a map of records and
  // a recursive record (a chain i % 4 deep).
  static GenericRecord avroInteropRow(Schema schema, int i) {
    GenericRecord row = new GenericData.Record(schema);
    row.put("intField", i - 2);
    row.put("longField", -i * 1_000_000_000_000L);
    row.put("stringField", "ström " + i);
    row.put("boolField", i % 2 == 1);
    row.put("floatField", i * 1.5f);
    row.put("doubleField", -i / 3.0);
    row.put("bytesField", ByteBuffer.wrap(new byte[] {(byte) i, (byte) 0xff}));
    row.put("nullField", null);
    row.put("arrayField", Arrays.asList(i * 0.5, -1.25));
    GenericRecord foo = new GenericData.Record(schema.getField("mapField").schema().getValueType());
    foo.put("label", "foo " + i);
    row.put("mapField", Collections.singletonMap("k" + i, foo));
    List<ByteBuffer> blobs = Arrays.asList(ByteBuffer.wrap(new byte[] {1, (byte) i}));
    row.put("unionField", new Object[] {i % 2 == 0, i * 2.5, blobs}[i % 3]);
    Schema kind = schema.getField("enumField").schema();
    row.put("enumField", new GenericData.EnumSymbol(kind, kind.getEnumSymbols().get(i % 3)));
    byte[] md5 = new byte[16];
    Arrays.fill(md5, (byte) i);
    row.put("fixedField", new GenericData.Fixed(schema.getField("fixedField").schema(), md5));
    row.put("recordField", node(schema.getField("recordField").schema(), "root", i % 4));
    row.put("stampOnField", 1_764_151_200_000L + i);
    return row;
  }

  static GenericRecord node(Schema schema, String label, int depth) {
    GenericRecord node = new GenericData.Record(schema);
    node.put("label", label);
    List<GenericRecord> children = new ArrayList<>();
    if (depth > 0) {
      children.add(node(schema, label + "/" + depth, depth - 1));
    }
    node.put("children", children);
    return node;
  }

  // The fields of row that schema has (the writer encodes nested records,
  // enums and fixed by their values, whatever schema object they carry).
  static GenericRecord project(GenericRecord row, Schema schema) {
    GenericRecord projected = new GenericData.Record(schema);
    for (Schema.Field field : schema.getFields()) {
      projected.put(field.name(), row.get(field.name()));
    }
    return projected;
  }

  // Single-object encoding (C3 01, the fingerprint, the datum) of each row, back to back
  static void writeSingleObjects(File file, Schema schema, List<GenericRecord> rows)
      throws Exception {
    BinaryMessageEncoder<GenericRecord> encoder =
        new BinaryMessageEncoder<>(GenericData.get(), schema);
    try (FileOutputStream out = new FileOutputStream(file)) {
      for (GenericRecord row : rows) {
        ByteBuffer message = encoder.encode(row);
        out.write(message.array(), message.arrayOffset() + message.position(), message.remaining());
      }
    }
    System.out.println("file " + file);
  }

  // Avro's weather test files' five readings
  static List<GenericRecord> weatherRows(Schema schema) {
    Object[][] readings = {
      {"011990-99999", -619524000000L, 0}, {"011990-99999", -619506000000L, 22},
      {"011990-99999", -619484400000L, -11}, {"012650-99999", -655531200000L, 111},
      {"012650-99999", -655509600000L, 78},
    };
    List<GenericRecord> rows = new ArrayList<>();
    for (Object[] reading : readings) {
      GenericRecord row = new GenericData.Record(schema);
      row.put("station", reading[0]);
      row.put("time", reading[1]);
      row.put("temp", reading[2]);
      rows.add(row);
    }
    return rows;
  }

  // Row i: the extremes of each type in the first rows, then a spread of ordinary values.
  static GenericRecord interopRow(Schema schema, int i) {
    GenericRecord row = new GenericData.Record(schema);
    row.put("id", i == 0 ? Long.MIN_VALUE : i == 1 ? Long.MAX_VALUE : i * 1_000_000_007L);
    row.put("flag", i % 2 == 0);
    row.put("level", i == 0 ? Integer.MIN_VALUE : i == 1 ? Integer.MAX_VALUE : -i);
    row.put("score", i * 0.25f - 3.5f);
    row.put("ratio", i == 1 ? Double.MAX_VALUE : i / 7.0);
    row.put("player", i == 0 ? "" : "plàyer-" + i + " \uD83C\uDFAE");
    byte[] payload = new byte[i % 5];
    for (int k = 0; k < payload.length; k++) {
      payload[k] = (byte) (i * 31 + k * 97);
    }
    row.put("payload", ByteBuffer.wrap(payload));
    Schema kind = schema.getField("kind").schema();
    row.put("kind", new GenericData.EnumSymbol(kind, kind.getEnumSymbols().get(i % 3)));
    byte[] tag = {(byte) i, (byte) (i >> 8), (byte) 0xff, 0};
    row.put("tag", new GenericData.Fixed(schema.getField("tag").schema(), tag));
    Schema price = schema.getField("price").schema();
    BigDecimal priceValue = i == 0 ? new BigDecimal("-9999999999.99") : BigDecimal.valueOf(i * 12345L - 99999, 2);
    row.put("price", DECIMALS.toBytes(priceValue, price, price.getLogicalType()));
    Schema amount = schema.getField("amount").schema();
    BigDecimal amountValue = i == 0 ? new BigDecimal("99999999999999.9999") : BigDecimal.valueOf(-i * 7_654_321L, 4);
    row.put("amount", DECIMALS.toFixed(amountValue, amount, amount.getLogicalType()));
    row.put("day", i * 1000 - 40_000); // 1860 to 2100
    long atMs = i == 0 ? -62_135_596_800_000L : 1_764_151_200_000L + (i - 150) * 3_600_123_457L;
    row.put("at_ms", atMs);
    row.put("at_us", atMs * 1000 + i);
    row.put("clock_ms", (int) ((i * 1_234_567L) % 86_400_000L));
    row.put("clock_us", (i * 1_234_567_891L) % 86_400_000_000L);
    row.put("session", UUID.nameUUIDFromBytes(("session " + i).getBytes(StandardCharsets.UTF_8)).toString());
    GenericRecord pos = new GenericData.Record(schema.getField("pos").schema());
    pos.put("x", i * 0.5);
    pos.put("zone", "zone \"" + (i % 4) + "\"");
    row.put("pos", pos);
    List<String> items = new ArrayList<>();
    for (int k = 0; k < i % 4; k++) {
      items.add("item-" + k);
    }
    row.put("items", items);
    Map<String, Long> counters = new LinkedHashMap<>();
    for (int k = 0; k < i % 3; k++) {
      counters.put("c" + k, (long) i * k - 5);
    }
    row.put("counters", counters);
    row.put("note", i % 3 == 0 ? null : "note " + i);
    row.put("bonus", i % 2 == 0 ? null : i);
    row.put("currency", new String[] {"EUR", "USD", "JPY"}[i % 3]);
    return row;
  }
}
