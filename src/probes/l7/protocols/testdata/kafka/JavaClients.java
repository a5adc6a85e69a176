// The Java Kafka clients (kafka-clients 4.1.1: the newest, flexible protocol versions) for
// record-java.ts: admin, producer acks=1 and acks=0, a consumer group, and a producer and an
// admin call naming a topic that does not exist. Usage: JavaClients <bootstrap>
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.ArrayList;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class JavaClients {
  static Properties common(String bootstrap, String clientId) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("client.id", clientId);
    p.put("enable.metrics.push", "false");
    return p;
  }

  static KafkaProducer<String, String> producer(String bootstrap, String clientId, String acks, int maxBlockMs) {
    Properties p = common(bootstrap, clientId);
    p.put("acks", acks);
    p.put("enable.idempotence", "false");
    p.put("linger.ms", "0");
    p.put("max.block.ms", Integer.toString(maxBlockMs));
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    return new KafkaProducer<>(p);
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String topic = "j_orders";
    try (Admin admin = Admin.create(common(bootstrap, "j-admin"))) {
      admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
      try {
        admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
        throw new IllegalStateException("creating an existing topic succeeded");
      } catch (ExecutionException expected) {
        System.err.println("second create: " + expected.getCause());
      }
      try {
        admin.describeTopics(List.of("j_no_such_topic")).allTopicNames().get();
        throw new IllegalStateException("describing a missing topic succeeded");
      } catch (ExecutionException expected) {
        System.err.println("describe missing: " + expected.getCause());
      }
    }
    try (KafkaProducer<String, String> p = producer(bootstrap, "j-producer-acks1", "1", 10000)) {
      for (int i = 0; i < 10; i++) p.send(new ProducerRecord<>(topic, "k" + i, "order " + i)).get();
      // Several in flight on one connection.
      List<Future<RecordMetadata>> inFlight = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        inFlight.add(p.send(new ProducerRecord<>(topic, i % 2, "p" + i, "parallel " + i)));
        p.flush();
      }
      for (Future<RecordMetadata> f : inFlight) f.get();
    }
    try (KafkaProducer<String, String> p = producer(bootstrap, "j-producer-acks0", "0", 10000)) {
      for (int i = 0; i < 5; i++) {
        p.send(new ProducerRecord<>(topic, "z" + i, "fire and forget " + i));
        p.flush();
      }
    }
    Properties c = common(bootstrap, "j-consumer");
    c.put("group.id", "j-group");
    c.put("auto.offset.reset", "earliest");
    c.put("fetch.max.wait.ms", "100");
    c.put("key.deserializer", StringDeserializer.class.getName());
    c.put("value.deserializer", StringDeserializer.class.getName());
    int got = 0;
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
      consumer.subscribe(List.of(topic));
      long end = System.currentTimeMillis() + 60000;
      while (got < 21 && System.currentTimeMillis() < end) {
        ConsumerRecords<String, String> rs = consumer.poll(Duration.ofMillis(200));
        got += rs.count();
      }
      consumer.commitSync();
    }
    if (got != 21) throw new IllegalStateException("consumed " + got + " of 21 records");
    try (KafkaProducer<String, String> p = producer(bootstrap, "j-producer-missing", "1", 1500)) {
      try {
        p.send(new ProducerRecord<>("j_no_such_topic", "lost")).get();
        throw new IllegalStateException("producing to a missing topic succeeded");
      } catch (Exception expected) {
        System.err.println("produce missing: " + expected);
      }
    }
  }
}
